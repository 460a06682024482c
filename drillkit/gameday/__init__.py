"""The game-day orchestrator: preflight, inject, observe, roll back, verify, always clean up, report."""
