"""The scheduler: pure functions that choose what runs next and project finish times."""
