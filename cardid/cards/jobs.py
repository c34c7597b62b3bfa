"""The card jobs (bulk generation, printing): a Job row's parameters into one service call."""

import time
from pathlib import Path

from django.conf import settings

from cardid.audit.actor import Actor
from cardid.cards import batches, generation
from cardid.cards.errors import GenerationRefused
from cardid.jobs.models import Job


def generate(job: Job, report) -> None:
    """The generation a person planned (the job carries the figures they reviewed, when
    there was a review: a plan that no longer has them is refused). Each chunk commits the
    job's cursor and counts with it, so a job taken over from a dead worker resumes after
    the last committed chunk."""
    p = job.params
    plan = generation.plan(
        selection=generation.Selection.from_params(p),
        slot=p["slot"],
        replace=p["replace"],
        notify=p.get("notify"),
    )
    resume = None
    if job.cursor:
        done = {k: job.counts.get(k, 0) for k in generation.FIGURES if k != "refused"}
        problems = job.cursor.get("problems", [])
        resume = (job.cursor, generation.Result(**done, messages=problems))

    def checkpoint(result: generation.Result, cursor: dict | None = None) -> None:
        skipped = (
            [f"{result.skipped} user(s) skipped: they already have a {plan.slot} number"]
            if result.skipped
            else []
        )
        report(
            done=result.issued + result.skipped + result.failed,
            total=result.users,
            counts=result.figures(),
            messages=skipped + result.messages,
            cursor={**cursor, "problems": result.messages[:100]} if cursor else None,
        )

    result = generation.apply(
        plan,
        actor=Actor(p["actor_name"], p["actor_door"]),
        progress=checkpoint,
        checkpoint=checkpoint,
        label=f"job {job.pk}",
        expect=p.get("expect"),
        resume=resume,
    )
    if result.refused:
        raise GenerationRefused(result.refused)


PRINTS_KEPT = 24 * 3600  # seconds a printed PDF stays in the data directory


def print_path(job_id: int) -> Path:
    return Path(settings.DATA_DIR) / "prints" / f"cards-{job_id}.pdf"


def print_cards(job: Job, report) -> None:
    """ID cards into a PDF in the data directory, offered for download on the job's page.
    PDFs older than a day are removed when the next one is printed."""
    p = job.params
    path = print_path(job.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - PRINTS_KEPT
    for old in path.parent.glob("cards-*.pdf"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    partial = path.with_suffix(".part")
    with partial.open("wb") as out:
        drawn, skipped = batches.render_cards(
            selection=generation.Selection.from_params(p),
            slot=p["slot"],
            paper=p["paper"],
            with_qr=p.get("qr", False),
            out=out,
            progress=lambda done, total: report(done=done, total=total),
        )
    partial.rename(path)
    report(
        done=drawn + skipped,
        total=drawn + skipped,
        counts={"printed": drawn, "skipped (no number)": skipped},
    )
