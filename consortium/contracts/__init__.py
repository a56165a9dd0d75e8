"""Sharing contracts: the signed contract document, its JSON Schema, and the templates.

``document`` defines and checks the document every party signs; ``templates`` reads the
templates in the repository's ``contracts/`` folder (shipped as ``templates/`` here).
"""
