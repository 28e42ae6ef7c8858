"""Adapters: the only code that talks to the outside (AWS via boto3, Azure DevOps, GitHub, Microsoft Entra, ECS,
Secrets Manager, notifications, the JSON log lines). Each implements a port of the service layer."""
