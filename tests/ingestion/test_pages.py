"""Browser pages rendered by Django: gallery, upload, detail, sign-up and log-in."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from ingestion.models import Image
from tests.factories import PASSWORD, draw_image, image_bytes, index, make_image, make_user

pytestmark = pytest.mark.django_db


def png(kind: str, name: str = "") -> SimpleUploadedFile:
    return SimpleUploadedFile(name or f"{kind}.png", image_bytes(draw_image(kind), "PNG"), "image/png")


def test_gallery_shows_visible_images_only(alice) -> None:
    public = make_image(alice, "circle", title="Red circle")
    private = make_image(alice, "square", title="Secret square", visibility="private")
    response = Client().get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="gallery"' in html and "Red circle" in html
    assert "Secret square" not in html
    assert f'data-image-id="{public.pk}"' in html and f'data-image-id="{private.pk}"' not in html
    assert "Sign up" in html


def test_my_images_and_a_bad_filter(browser, alice) -> None:
    make_image(alice, "square", title="Secret square", visibility="private")
    make_image(make_user("bob"), "circle", title="Bob's circle")
    mine = browser.get("/", {"owner": "me"}).content.decode()
    assert "My images" in mine and "Secret square" in mine and "Bob&#x27;s circle" not in mine
    bad = browser.get("/", {"status": "nonsense"})
    assert bad.status_code == 400  # as the API answers the same filter
    page = bad.content.decode()
    assert "status must be one of: pending, indexed, failed." in page
    assert 'id="error-page"' in page and 'class="topbar"' in page  # inside the site layout


def test_empty_gallery_invites_uploads(browser) -> None:
    assert "No images yet." in browser.get("/").content.decode()


def test_upload_page_needs_login() -> None:
    response = Client().get("/upload/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/upload/")
    assert Client().post("/upload/", {"files": [png("circle")]}).status_code == 302
    assert Image.objects.count() == 0


def test_upload_page_renders_the_form(browser, settings) -> None:
    settings.MAX_UPLOAD_BYTES = 20 * 1024 * 1024
    html = browser.get("/upload/").content.decode()
    assert 'id="upload-form"' in html and 'name="files"' in html and "multiple" in html
    assert "up to 20 MB each" in html


def test_uploading_several_files(browser, alice) -> None:
    response = browser.post(
        "/upload/",
        {"files": [png("circle"), png("square"), png("stripes")], "tags": "Shapes", "visibility": "private"},
    )
    assert response.status_code == 302 and response["Location"] == "/?owner=me"
    images = Image.objects.filter(owner=alice)
    assert images.count() == 3
    assert {i.original_filename for i in images} == {"circle.png", "square.png", "stripes.png"}
    assert all(i.visibility == "private" and i.tag_names() == ["shapes"] for i in images)
    assert all(i.status == Image.Status.PENDING and i.title == "" for i in images)
    gallery = browser.get(response["Location"]).content.decode()
    assert "Uploaded 3 images; they are being indexed." in gallery


def test_single_upload_keeps_its_title(browser, alice) -> None:
    browser.post("/upload/", {"files": [png("triangle")], "title": "My triangle"})
    assert Image.objects.get(owner=alice).title == "My triangle"


def test_a_bad_file_is_reported_and_the_good_ones_kept(browser, alice) -> None:
    junk = SimpleUploadedFile("notes.txt", b"not an image at all", "text/plain")
    response = browser.post("/upload/", {"files": [png("circle"), junk, png("square")]}, follow=True)
    assert response.status_code == 200
    html = response.content.decode()
    assert "&#x27;notes.txt&#x27; is not an image Pillow can read." in html
    assert "Uploaded 2 images" in html
    assert Image.objects.filter(owner=alice).count() == 2


def test_only_bad_files_go_back_to_the_form(browser) -> None:
    junk = SimpleUploadedFile("empty.png", b"", "image/png")
    response = browser.post("/upload/", {"files": [junk]}, follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == "/upload/"
    assert "is empty" in html and 'id="upload-form"' in html
    response = browser.post("/upload/", {"files": [png("circle")], "visibility": "world"}, follow=True)
    assert "visibility must be &#x27;public&#x27; or &#x27;private&#x27;." in response.content.decode()
    assert Image.objects.count() == 0


def test_detail_page_with_similar_images(browser, alice, clean_index) -> None:
    images = [make_image(alice, kind, title=f"A {kind}") for kind in ("circle", "square", "stripes")]
    index(*images)
    pending = make_image(alice, "triangle", title="Waiting triangle")

    html = browser.get(f"/images/{images[0].pk}/").content.decode()
    assert "<h1>A circle</h1>" in html
    assert images[0].sha256 in html and "Delete" in html
    similar = html.split('id="similar"', 1)[1]
    assert f'data-image-id="{images[1].pk}"' in similar and f'data-image-id="{images[2].pk}"' in similar
    assert f'data-image-id="{images[0].pk}"' not in similar

    waiting = Client().get(f"/images/{pending.pk}/").content.decode()
    assert "Similar images appear once this image is indexed." in waiting
    assert "Delete" not in waiting


def test_detail_page_lists_an_exact_copy_as_a_duplicate(browser, alice, clean_index) -> None:
    original, copy = make_image(alice, "circle", title="First"), make_image(alice, "circle", title="Copy")
    index(original, copy)
    html = browser.get(f"/images/{original.pk}/").content.decode()
    duplicates = html.split('id="duplicates"', 1)[1].split('id="similar"', 1)[0]
    assert f'data-image-id="{copy.pk}"' in duplicates and "exact duplicate" in duplicates


def test_detail_of_a_private_image_is_404_for_others(alice) -> None:
    image = make_image(alice, "square", visibility="private")
    assert Client().get(f"/images/{image.pk}/").status_code == 404
    bob = Client()
    bob.login(username=make_user("bob").username, password=PASSWORD)
    assert bob.get(f"/images/{image.pk}/").status_code == 404


def test_delete_from_the_page(browser, alice) -> None:
    mine = make_image(alice, "circle")
    bob = make_user("bob")
    bobs_public = make_image(bob, "square")
    bobs_private = make_image(bob, "stripes", visibility="private")

    assert browser.post(f"/images/{bobs_public.pk}/delete/").status_code == 403
    # Someone else's private image is not even acknowledged.
    assert browser.post(f"/images/{bobs_private.pk}/delete/").status_code == 404
    assert browser.get(f"/images/{mine.pk}/delete/").status_code == 405
    response = browser.post(f"/images/{mine.pk}/delete/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert list(Image.objects.values_list("pk", flat=True).order_by("pk")) == [
        bobs_public.pk,
        bobs_private.pk,
    ]


def test_signup_logs_in() -> None:
    client = Client()
    page = client.get("/accounts/signup/")
    assert page.status_code == 200 and 'name="password1"' in page.content.decode()
    response = client.post(
        "/accounts/signup/",
        {"username": "newbie", "password1": "a-long-Pass-123", "password2": "a-long-Pass-123"},
    )
    assert response.status_code == 302 and response["Location"] == "/"
    assert "Log out newbie" in client.get("/").content.decode()


def test_signup_with_mismatched_passwords_shows_the_form() -> None:
    response = Client().post(
        "/accounts/signup/",
        {"username": "newbie", "password1": "a-long-Pass-123", "password2": "other-Pass-456"},
    )
    assert response.status_code == 200
    assert "didn’t match" in response.content.decode()


def test_login_page(alice) -> None:
    client = Client()
    page = client.get("/accounts/login/", {"next": "/upload/"})
    assert page.status_code == 200
    assert 'name="username"' in page.content.decode() and 'value="/upload/"' in page.content.decode()
    response = client.post(
        "/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/upload/"}
    )
    assert response.status_code == 302 and response["Location"] == "/upload/"
    bad = Client().post("/accounts/login/", {"username": "alice", "password": "wrong"})
    assert bad.status_code == 200 and "Please enter a correct username and password" in bad.content.decode()


def test_owner_edits_title_tags_and_visibility_on_the_detail_page(browser, alice) -> None:
    image = make_image(alice, "circle", title="Old title")
    page = browser.get(f"/images/{image.pk}/").content.decode()
    assert 'id="edit"' in page and 'value="Old title"' in page

    response = browser.post(
        f"/images/{image.pk}/edit/",
        {"title": "New title", "tags": "Red, round", "visibility": "private"},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == f"/images/{image.pk}/"
    assert "<h1>New title</h1>" in response.content.decode()
    image.refresh_from_db()
    assert (image.title, image.visibility, image.tag_names()) == ("New title", "private", ["red", "round"])

    bad = browser.post(f"/images/{image.pk}/edit/", {"visibility": "everyone"}, follow=True)
    assert "visibility must be" in bad.content.decode()


def test_others_cannot_edit(alice) -> None:
    image = make_image(alice, "circle", title="Mine")
    make_user("bob")
    bob = Client()
    bob.login(username="bob", password=PASSWORD)
    assert 'id="edit"' not in bob.get(f"/images/{image.pk}/").content.decode()
    assert bob.post(f"/images/{image.pk}/edit/", {"title": "Hijacked"}).status_code == 403
    image.refresh_from_db()
    assert image.title == "Mine"
