"""Webhook output: chosen logged events POSTed as signed JSON (docs/MQTT.md, "Webhooks")."""
