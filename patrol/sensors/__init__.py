"""Sensor and camera ingest: Zigbee2MQTT devices, Home Assistant discovery, vision events, camera health."""
