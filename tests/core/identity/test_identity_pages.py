"""Sign-in, sign-out and "my account" pages, with CSRF on every form."""

from tests.factories import PASSWORD
from tests.support import pages
from tests.support.pages import change_own_password


def csrf_token(client, path):
    """The CSRF token of the form on the page at ``path``."""
    return pages.csrf_token(client.get(path).get_data(as_text=True))


def sign_in(client, phone, password=PASSWORD, next_path=None):
    token = csrf_token(client, "/login")
    url = "/login" + (f"?next={next_path}" if next_path else "")
    return client.post(url, data={"csrf_token": token, "phone": phone, "password": password})


def test_a_member_signs_in_on_the_page_and_sees_their_account(client, world):
    response = sign_in(client, world.phones["organiser"])
    assert response.status_code == 302 and response.headers["Location"] == "/"
    html = client.get("/account").get_data(as_text=True)
    assert "李组织" in html and "组织者" in html and "城关镇" in html


def test_a_wrong_password_keeps_the_phone_and_says_why(client, world):
    response = sign_in(client, world.phones["resident"], "wrong password")
    assert response.status_code == 401
    html = response.get_data(as_text=True)
    assert world.phones["resident"] in html and "手机号或密码不正确" in html


def test_the_account_page_needs_a_signed_in_member(client):
    response = client.get("/account")
    assert response.status_code == 302 and response.headers["Location"].startswith("/login?next=")


def test_sign_in_returns_to_the_page_asked_for_but_never_to_another_site(client, world):
    assert sign_in(client, world.phones["resident"], next_path="/account").headers["Location"] == "/account"
    client.get("/logout")
    other = client.application.test_client()
    response = sign_in(other, world.phones["resident"], next_path="https://evil.example/")
    assert response.headers["Location"] == "/"


def test_sign_out_needs_a_post_with_the_csrf_token(client, world):
    sign_in(client, world.phones["resident"])
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    token = csrf_token(client, "/account")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/account").status_code == 302


def test_the_login_form_refuses_a_post_without_its_csrf_token(client, world):
    response = client.post("/login", data={"phone": world.phones["resident"], "password": PASSWORD})
    assert response.status_code == 400


def test_changing_the_password_on_the_page_ends_other_sessions(client, world, app):
    other_browser = app.test_client()
    sign_in(other_browser, world.phones["resident"])
    sign_in(client, world.phones["resident"])
    response = change_own_password(client, "a new password")
    assert response.status_code == 302
    assert client.get("/account").status_code == 200, "this browser stays signed in"
    assert other_browser.get("/account").status_code == 302, "the other browser is signed out"
    assert client.get("/api/v1/me", headers=world.headers["resident"]).status_code == 401


def test_a_mismatched_new_password_is_refused_on_the_page(client, world):
    sign_in(client, world.phones["resident"])
    response = change_own_password(client, "a new password", confirm="another one")
    assert response.status_code == 422
    assert "两次输入的新密码不一致" in response.get_data(as_text=True)


def test_a_page_session_may_call_the_api_with_the_csrf_header(client, world):
    sign_in(client, world.phones["resident"])
    assert client.get("/api/v1/me").status_code == 200
    assert client.patch("/api/v1/me", json={"anonymous": True}).status_code == 400
    token = csrf_token(client, "/account")
    response = client.patch("/api/v1/me", json={"anonymous": True}, headers={"X-CSRFToken": token})
    assert response.status_code == 200
