"""The daily digest: compose, remember, deliver."""
