"""Who is acting: API tokens now; people, roles and sign-in build on this."""
