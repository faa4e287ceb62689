"""The visitor guide: bilingual questions about the park, walking routes and escort missions.

`service.GuideService` is the entry point (built once by the lifespan); `api.router` is the HTTP
API and kiosk page, `voice.VoiceFrontEnd` the guide robot's MQTT front end, `escort.EscortExecutor`
the protocol the service implements to send the guide robot's orders.
"""
