"""Fleet: the robot registry (store) and live fleet state (memory), fed by VDA 5050 over MQTT."""
