"""IR -> durable execution: a pure `step` core and an asyncio shell around it."""
