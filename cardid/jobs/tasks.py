"""Background tasks: each takes ids and calls one service."""

from django_tasks import task


@task()
def run_job(job_id: int) -> str:
    from cardid.jobs import runner

    return runner.run(job_id).status
