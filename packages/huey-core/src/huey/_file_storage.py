from huey._memory_storage import MemoryStorage as FileStorage  # placeholder until written
