"""The drill: one rehearsal from migrated state to verdict (engine, recovery, verdict, runner, mutation)."""
