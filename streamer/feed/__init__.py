"""The event feed: every event type, the event bus with its durable log and outputs, the
WebSocket server and client, and protocol v1 with its JSON Schemas. Dicts and bytes, never
torch."""
