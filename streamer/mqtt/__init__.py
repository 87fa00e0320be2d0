"""MQTT output: the topic layout, Home Assistant discovery and the sink (docs/MQTT.md)."""
