"""Background tasks: each takes ids and calls one service."""

from django_tasks import task

from cardid.jobs import runner


@task()
def run_job(job_id: int) -> str:
    return runner.run(job_id).status
