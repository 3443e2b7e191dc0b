"""Tests of the job queue: store, scheduler, config, file store and the queue CLI."""
