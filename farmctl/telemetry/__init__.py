"""MQTT telemetry: the only code that imports paho.

Entry points (see docs/mqtt.md):
- `farmctl.telemetry.settings.MqttSection` / `mqtt_settings` / `parse_mqtt_section` for the config
  loader (no paho import);
- `farmctl.telemetry.sink.open_telemetry` for the daemon (a publisher, or a disabled sink), and
  `farmctl.telemetry.farm_observer.TelemetryObserver` to plug it into the supervisor's observer hook;
- `farmctl.telemetry.follower.FarmFollower` for `farmctl watch --mqtt URL`;
- `farmctl.telemetry.probe.check_broker` for `farmctl doctor`.
This package's `__init__` imports nothing so that reading the config never loads paho.
"""
