"""The persistent store: the only code that imports sqlmodel."""
