"""Identity and cryptography: node keys, canonical JSON, signed notes. No Flask, no domain."""
