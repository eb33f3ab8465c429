"""The asyncio tasks that own the device's hardware, one per device (the card reader first); the
app (firmware/app.py) starts and stops them and delivers what they report to the flow."""
