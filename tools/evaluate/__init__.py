"""`make eval`: run the simulator through the real system and grade what comes out."""
