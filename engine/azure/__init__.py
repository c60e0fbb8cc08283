"""Azure ML: sign-in, workspace, datastore transfers, model registration and remote jobs."""
