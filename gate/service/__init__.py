"""The service layer: one round (heartbeat pass, judgment pass, one executor) for every trigger, the passes around it
(retained clean-up, protection), and the ports it consumes (each declared here, by its consumer, as a Protocol)."""
