"""HTTP API of the control service (FastAPI): REST, WebSocket, OpenAPI."""
