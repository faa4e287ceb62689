"""Robot-side agent: VDA 5050 over MQTT in front of a vendor `Driver`."""
