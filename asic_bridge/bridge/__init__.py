"""The MQTT bridge daemon: miners to retained MQTT state with Home Assistant discovery."""
