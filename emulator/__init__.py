"""Local stand-ins for AWS (moto + lifecycle hooks) and Azure DevOps. Never imported by the handler."""
