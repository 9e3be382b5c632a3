from django.conf import settings


def site(request) -> dict:
    """The model banner: which model answers, or why search cannot work right now."""
    from search.worker_status import encoder_summary, read_all

    try:
        state, detail = encoder_summary(read_all())
    except Exception as exc:
        state, detail = "error", f"the task queue (Redis) is unreachable: {exc}"
    return {
        "clip_model": settings.CLIP_MODEL,
        "is_demo_model": settings.CLIP_MODEL == "demo",
        "encoder_state": state,
        "encoder_detail": detail,
    }
