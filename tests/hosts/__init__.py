"""Host CRMs shaped unlike each other, and the integration scenarios every host must pass."""
