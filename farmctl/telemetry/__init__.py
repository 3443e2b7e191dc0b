"""MQTT telemetry: the only code that imports paho."""
