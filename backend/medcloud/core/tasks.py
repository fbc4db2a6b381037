from celery import shared_task


@shared_task(name="core.echo")
def echo(value: str) -> str:
    """A trivial job, used to check the broker and a worker end to end."""
    return value
