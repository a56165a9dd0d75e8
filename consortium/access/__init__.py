"""Access: researchers' requests, the automatic compatibility check, review, and grants."""
