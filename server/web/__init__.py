"""The web shell: handler bases per audience, errors, OpenAPI, templates."""
