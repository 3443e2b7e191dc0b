"""Default configuration and printer profiles (installed as `farmctl.defaults`)."""
