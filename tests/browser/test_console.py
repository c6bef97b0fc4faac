"""The operator console in a real browser: headless Chromium against the local stack with the real
console_api, process_clip and presign handlers behind it.

Given fan-02 scored by a model of 10-second clips, with a model change, a corrupt upload, a
bearing fault in its last clips (one alert sent, whose email links to the clip's page) and a
retrained candidate model, and a quiet fan-01: an operator signs in through the form and sees
fan-02 alerting on the fleet page, opens its timeline (axis fitted to the data, every clip marked,
drag to zoom) and the alert's clip from the email's link, hears it (the audio element loads 10 s
with no media error), sees its spectrogram drawn, labels it normal (the history shows it),
acknowledges the alert (the page and the alert state show it) and promotes the candidate from its
gate report. A viewer gets no write controls, and a write forced through the page's own fetch is
refused with 403; a token the API refuses sends the user back to sign in. The pages fit a phone's
width and log no script error or CSP violation. Screenshots of each page go to
tests/browser/artifacts/ (HUMWATCH_UPDATE_SCREENSHOTS=1 also refreshes the README's
docs/images/console-{fleet,device,clip}.png).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver import ActionChains, Chrome
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from humwatch import contracts as c
from humwatch.dal import aws
from humwatch.dal.history import HistoryTable
from humwatch.dal.model_store import ModelStore
from humwatch.dal.train_queue import TrainQueue
from humwatch.local.devices import provision_local_device
from humwatch.local.scenario import DemoRecipe, ensure_demo_model, write_device_clips
from humwatch.local.settings import LocalStackOptions
from humwatch.local.stack import LocalStack
from humwatch.records import CandidateStatus, ClipRecord, ClipStatus

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

THING = "fan-02"
QUIET = "fan-01"
CLIP_S = 10.0
# The first model scores the first half of fan-02's normal clips, a retrained one the rest.
RECIPES = (
    DemoRecipe(model_id="fan-console", clip_s=CLIP_S, train_clips=60),
    DemoRecipe(model_id="fan-console", clip_s=CLIP_S, train_clips=60, seed=8),
)
NORMAL_CLIPS = 24
FAULT_CLIPS = 4
INTERVAL = timedelta(minutes=5)
CORRUPT = b"fLaC" + bytes(range(256)) * 8  # FLAC magic, then garbage: REJECTED
LABEL_NOTE = "the new compressor next door"
WAIT_S = 20


@dataclass
class Console:
    stack: LocalStack
    history: HistoryTable
    url: str
    passwords: dict[str, str]
    alert_link: str
    alert_clip_id: str
    versions: tuple[str, str]

    def clips(self, thing: str = THING) -> list[ClipRecord]:
        return list(self.history.clips.query(thing))


def _put(bucket: str, thing: str, captured_at: datetime, data: bytes) -> None:
    key = c.clip_key(thing, captured_at, str(uuid.uuid4()), "flac")
    aws.client("s3").put_object(Bucket=bucket, Key=key, Body=data, ContentType="audio/flac")


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    work = tmp_path_factory.mktemp("console")
    model_dirs = [ensure_demo_model(work / "cache", recipe)[0] for recipe in RECIPES]
    fan02 = write_device_clips(
        work / "clips" / THING, n_clips=NORMAL_CLIPS + FAULT_CLIPS, recipe=RECIPES[0],
        fault_from=NORMAL_CLIPS, seed=2,
    )  # fmt: skip
    fan01 = write_device_clips(work / "clips" / QUIET, n_clips=6, recipe=RECIPES[0], seed=1)
    options = LocalStackOptions.build(
        workdir=work / "stack",
        batch_window_s=0.5,
        drift_interval_s=0,
        function_env={
            "HUMWATCH_MODEL_REFRESH_S": "0",
            # Three anomalies in the last five clips alert, whatever their evidence.
            "HUMWATCH_ALERT_K": "3",
            "HUMWATCH_ALERT_N": "5",
            "HUMWATCH_ALERT_EVIDENCE": "0",
        },
    )
    stack = LocalStack(options).start()
    try:
        history = HistoryTable(stack.info.table)
        store = ModelStore(stack.info.bucket)
        model_id = RECIPES[0].model_id
        first = store.publish_dir(model_dirs[0], model_id, history)
        for thing in (QUIET, THING):
            provision_local_device(stack, thing, model_id=model_id, interval_s=INTERVAL.total_seconds())
        bucket = stack.info.bucket
        # Every 5 minutes up to 5 minutes ago: nobody is silent while the tests run.
        total = NORMAL_CLIPS + FAULT_CLIPS
        t0 = datetime.now(UTC).replace(microsecond=0) - total * INTERVAL
        at = [t0 + i * INTERVAL for i in range(total)]
        half = NORMAL_CLIPS // 2
        for i, path in enumerate(fan01):
            _put(bucket, QUIET, at[-len(fan01) + i], path.read_bytes())
        for i in range(half):
            _put(bucket, THING, at[i], fan02[i].read_bytes())
        assert stack.wait_until_drained(60)
        second = store.publish_dir(model_dirs[1], model_id, history)
        for i in range(half, NORMAL_CLIPS):
            _put(bucket, THING, at[i], fan02[i].read_bytes())
        _put(bucket, THING, at[NORMAL_CLIPS] - INTERVAL / 2, CORRUPT)
        assert stack.wait_until_drained(60)
        for i in range(NORMAL_CLIPS, NORMAL_CLIPS + FAULT_CLIPS):
            _put(bucket, THING, at[i], fan02[i].read_bytes())
        assert stack.wait_for(lambda: bool(stack.inbox.alerts()), timeout_s=90, interval_s=0.5), "no alert"
        assert stack.wait_until_drained(60)
        state = history.alert_states.get(THING)
        assert state is not None and state.alert.last_alert_at is not None and not state.alert.is_acknowledged
        # A retrain of fan-02 on its own history: a candidate with a gate report for the models page.
        now = datetime.now(UTC).replace(microsecond=0)
        TrainQueue(stack.info.train_queue_url).send(
            c.TrainRequest(
                thing=THING, request_id="console-retrain", reason=c.TrainReason.RETRAIN,
                since=t0, until=now, requested_at=now,
            )
        )  # fmt: skip
        assert stack.wait_for(lambda: bool(history.candidates.list(THING)), timeout_s=120, interval_s=0.5)
        console_url = stack.info.console_url
        assert console_url, "the local stack serves no console"
        link = re.search(
            r"(http://\S+/#/devices/" + THING + r"/clips/([\w-]+))", stack.inbox.alerts()[0].message
        )
        assert link, f"the alert carries no console link:\n{stack.inbox.alerts()[0].message}"
        yield Console(
            stack=stack,
            history=history,
            url=console_url.rstrip("/"),
            passwords=dict(stack.info.console_users or {}),
            alert_link=link.group(1),
            alert_clip_id=link.group(2),
            versions=(first.version, second.version),
        )
    finally:
        stack.stop()


# --- driving the page ---------------------------------------------------------------------------------
def wait_for(
    driver: WebDriver, what: str, condition: Callable[[WebDriver], Any], timeout_s: float = WAIT_S
) -> Any:
    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.1).until(condition)
    except TimeoutException:
        banner = driver.find_elements(By.ID, "banner")
        shown = banner[0].text if banner and banner[0].is_displayed() else ""
        raise AssertionError(
            f"timed out waiting for {what} (banner: {shown!r}; url {driver.current_url})"
        ) from None


def element(driver: WebDriver, css: str, what: str | None = None) -> WebElement:
    return wait_for(driver, what or css, lambda d: next(iter(d.find_elements(By.CSS_SELECTOR, css)), None))


def signed_in_as(driver: WebDriver) -> str | None:
    who = driver.find_elements(By.ID, "who")
    return driver.find_element(By.ID, "who-name").text if who and who[0].is_displayed() else None


def sign_in(driver: WebDriver, console: Console, user: str) -> None:
    """Through the sign-in form, as a person would (signing out whoever is signed in first)."""
    if not driver.current_url.startswith(console.url):
        driver.get(console.url + "/")
    wait_for(driver, "the app to start", lambda d: d.find_elements(By.CSS_SELECTOR, "main h1"))
    if signed_in_as(driver) == user:
        return
    if signed_in_as(driver) is not None:
        driver.find_element(By.ID, "sign-out").click()
    driver.get(console.url + "/#/signin")
    element(driver, "#signin-form", "the sign-in form")
    fill(driver.find_element(By.ID, "username"), user)
    fill(driver.find_element(By.ID, "password"), console.passwords[user])
    driver.find_element(By.ID, "signin-submit").click()
    wait_for(driver, f"{user} to be signed in", lambda d: signed_in_as(d) == user)


def fill(field: WebElement, text: str) -> None:
    field.clear()
    field.send_keys(text)


def open_route(driver: WebDriver, console: Console, route: str, ready_css: str) -> WebElement:
    target = f"{console.url}/#{route}"
    # Empty the page first: until the new route renders, the old page's elements would match.
    driver.execute_script("const main = document.getElementById('main'); if (main) main.replaceChildren();")
    if driver.current_url == target:
        driver.refresh()  # the same address: no hashchange to render it again
    else:
        driver.get(target)
    return element(driver, ready_css)


def fleet_row(driver: WebDriver, thing: str) -> WebElement:
    def row(d: WebDriver) -> WebElement | None:
        for tr in d.find_elements(By.CSS_SELECTOR, "#fleet-body tbody tr"):
            heads = tr.find_elements(By.CSS_SELECTOR, "th")
            if heads and heads[0].text == thing:
                return tr
        return None

    return wait_for(driver, f"{thing}'s row on the fleet page", row)


def api_from_page(driver: WebDriver, method: str, path: str, body: dict[str, Any] | None = None) -> list[Any]:
    """[status, json] of a request the page itself makes with the signed-in user's token."""
    script = """
        const [method, path, body, done] = arguments;
        (async () => {
            const config = await (await fetch("config.json")).json();
            const token = sessionStorage.getItem("humwatch.id_token");
            const response = await fetch(config.apiUrl.replace(/\\/+$/, "") + path, {
                method,
                headers: {Authorization: "Bearer " + token, "Content-Type": "application/json"},
                body: body === null ? undefined : JSON.stringify(body),
            });
            done([response.status, await response.json()]);
        })().catch((err) => done([0, String(err)]));
    """
    return list(driver.execute_async_script(script, method, path, body))


def clip_path(console: Console) -> str:
    return f"/devices/{THING}/clips/{console.alert_clip_id}"


# --- the tests ------------------------------------------------------------------------------------------
def test_an_operator_signs_in_through_the_form_and_the_fleet_shows_fan02_alerting(
    driver: Chrome, console: Console, screenshot: Callable[[WebDriver, str], Path]
) -> None:
    driver.get(console.url + "/")
    wait_for(driver, "the sign-in page", lambda d: d.current_url.endswith("#/signin"))
    sign_in(driver, console, "operator")

    assert driver.find_element(By.ID, "who-role").text == "operator"
    alerting = fleet_row(driver, THING)
    assert "row-alert" in (alerting.get_attribute("class") or "")
    assert alerting.find_element(By.CSS_SELECTOR, ".badge").text.startswith("ALERT")
    quiet = fleet_row(driver, QUIET)
    assert quiet.find_element(By.CSS_SELECTOR, ".badge").text == "ok"
    assert "row-alert" not in (quiet.get_attribute("class") or "")
    screenshot(driver, "fleet")


def test_a_token_the_api_refuses_sends_the_user_back_to_sign_in_and_then_where_they_were(
    driver: Chrome, console: Console
) -> None:
    sign_in(driver, console, "operator")
    driver.execute_script("""
        const [header, payload] = sessionStorage.getItem("humwatch.id_token").split(".");
        sessionStorage.setItem("humwatch.id_token", header + "." + payload + ".forged");
    """)  # fmt: skip
    driver.get(console.url + "/#/models")

    wait_for(driver, "the sign-in page", lambda d: d.current_url.endswith("#/signin"))
    assert "sign in again" in element(driver, ".notice").text
    sign_in(driver, console, "operator")
    wait_for(driver, "the page the user wanted", lambda d: d.current_url.endswith("#/models"))


def test_the_device_timeline_marks_every_clip_on_an_axis_fitted_to_the_data(
    driver: Chrome, console: Console, screenshot: Callable[[WebDriver, str], Path]
) -> None:
    sign_in(driver, console, "operator")
    open_route(driver, console, "/", "#fleet-body table")
    fleet_row(driver, THING).find_element(By.LINK_TEXT, THING).click()
    chart = element(driver, "svg.timeline[data-clips]", "the timeline")
    records = console.clips()

    assert int(chart.get_attribute("data-clips") or 0) == len(records)
    first = min(r.captured_at for r in records)
    last = max(r.captured_at for r in records)
    assert datetime.fromisoformat(chart.get_attribute("data-x-min") or "") == first
    assert datetime.fromisoformat(chart.get_attribute("data-x-max") or "") == last
    # Tick labels lie within the data's span (plus the 2 % margin), not a requested window.
    span = (last - first).total_seconds() * 1000
    ticks = [int(t.get_attribute("data-t") or 0) for t in chart.find_elements(By.CSS_SELECTOR, "text.x-tick")]
    assert len(ticks) >= 3
    assert all(
        first.timestamp() * 1000 - 0.03 * span <= t <= last.timestamp() * 1000 + 0.03 * span for t in ticks
    )
    anomalies = [r for r in records if r.is_anomaly]
    assert len(chart.find_elements(By.CSS_SELECTOR, "circle.pt-anomaly")) == len(anomalies) >= 3
    assert len(chart.find_elements(By.CSS_SELECTOR, ".pt-rejected")) == 1
    assert len(chart.find_elements(By.CSS_SELECTOR, "line.model-change")) == 1
    assert chart.find_elements(By.CSS_SELECTOR, "line.threshold")
    assert len(chart.find_elements(By.CSS_SELECTOR, ".alert-mark")) == 1
    screenshot(driver, "device")

    # Dragging across the middle half of the plot zooms to those clips; "All" shows every clip again.
    plot = chart.find_element(By.CSS_SELECTOR, "rect.plot-bg")
    # Offsets count from the centre of the element's visible part: show all of it first.
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", plot)
    width, height = plot.size["width"], plot.size["height"]
    drag = ActionChains(driver).move_to_element_with_offset(plot, -width // 4, -height // 2 + 4)
    drag.click_and_hold().move_by_offset(width // 2, 0).release().perform()
    wait_for(driver, "the zoomed timeline", lambda d: shown_clips(d) < len(records))
    assert 0.3 * len(records) < shown_clips(driver) < 0.7 * len(records)
    driver.find_element(By.CSS_SELECTOR, "button[data-zoom=all]").click()
    wait_for(driver, "every clip again", lambda d: shown_clips(d) == len(records))


def shown_clips(driver: WebDriver) -> int:
    return int(driver.find_element(By.CSS_SELECTOR, "svg.timeline").get_attribute("data-clips") or 0)


def test_the_alert_emails_link_opens_the_clip_and_its_audio_loads_10_s(
    driver: Chrome, console: Console
) -> None:
    sign_in(driver, console, "operator")
    driver.get(console.alert_link)
    audio = element(driver, "#clip-audio", "the audio element")

    wait_for(driver, "the audio's metadata", lambda d: d.execute_script(
        "const a = arguments[0]; return a.readyState >= 1 || a.error !== null;", audio
    ))  # fmt: skip
    error, duration = driver.execute_script(
        "const a = arguments[0]; return [a.error && a.error.code, a.duration];", audio
    )
    assert error is None
    assert 9.5 <= duration <= 10.5


def test_the_spectrogram_and_the_band_means_against_normal_are_drawn(
    driver: Chrome, console: Console, screenshot: Callable[[WebDriver, str], Path]
) -> None:
    sign_in(driver, console, "operator")
    canvas = open_route(driver, console, clip_path(console), "canvas#spectrogram")

    colours, lit = driver.execute_script(
        """
        const canvas = arguments[0];
        const g = canvas.getContext("2d");
        const {data} = g.getImageData(0, 0, canvas.width, canvas.height);
        const seen = new Set();
        let lit = 0;
        for (let i = 0; i < data.length; i += 4) {
            seen.add((data[i] << 16) | (data[i + 1] << 8) | data[i + 2]);
            if (data[i] + data[i + 1] + data[i + 2] < 600) lit += 1;
        }
        return [seen.size, lit / (data.length / 4)];
        """,
        canvas,
    )
    assert colours > 50, "the spectrogram is blank or a single colour"
    assert lit > 0.5, "most of the canvas should be the spectrogram, not the white margin"
    bands = driver.find_element(By.CSS_SELECTOR, "svg.bands")
    assert bands.find_elements(By.CSS_SELECTOR, "path.clip-line")
    assert bands.find_elements(By.CSS_SELECTOR, "path.normal-band")
    assert "threshold" in driver.find_element(By.ID, "explanation").text
    screenshot(driver, "clip")


def test_a_rejected_clips_page_says_why_it_was_not_scored(driver: Chrome, console: Console) -> None:
    sign_in(driver, console, "operator")
    (rejected,) = [r for r in console.clips() if r.status is ClipStatus.REJECTED]
    open_route(driver, console, f"/devices/{THING}/clips/{rejected.clip_id}", "#explanation")

    assert driver.find_element(By.ID, "explanation").text.startswith("Not scored: the clip was rejected")
    assert not driver.find_elements(By.CSS_SELECTOR, "canvas#spectrogram")
    wait_for(
        driver, "the audio's verdict", lambda d: "not decodable" in d.find_element(By.ID, "audio-status").text
    )


def test_a_viewer_gets_no_write_controls_and_a_forced_write_is_refused(
    driver: Chrome, console: Console
) -> None:
    sign_in(driver, console, "viewer")
    assert driver.find_element(By.ID, "who-role").text == "viewer"
    open_route(driver, console, clip_path(console), "#label-form")

    assert driver.find_element(By.CSS_SELECTOR, "#label-form fieldset").get_attribute("disabled") is not None
    ack = driver.find_elements(By.ID, "ack-button")
    assert not ack or not ack[0].is_enabled()
    label_status, _ = api_from_page(
        driver, "POST", f"{clip_path(console)}/label", {"label": "normal", "note": None}
    )
    ack_status, body = api_from_page(driver, "POST", f"/devices/{THING}/ack")
    assert (label_status, ack_status) == (403, 403)
    assert body == {"message": "operators only"}
    record = console.history.clips.find(THING, console.alert_clip_id)
    assert record is not None and record.label is None
    state = console.history.alert_states.get(THING)
    assert state is not None and not state.alert.is_acknowledged
    open_route(driver, console, "/models", "#published-heading")
    reports = open_candidates(driver)
    buttons = wait_for(
        driver, "the candidate's buttons", lambda d: reports.find_elements(By.CSS_SELECTOR, "button")
    )
    assert all(not b.is_enabled() for b in buttons)


def test_an_operator_labels_the_clip_normal_and_the_history_shows_it(
    driver: Chrome, console: Console
) -> None:
    sign_in(driver, console, "operator")
    open_route(driver, console, clip_path(console), "#label-form")

    driver.find_element(By.ID, "label-normal").click()
    fill(driver.find_element(By.ID, "label-note"), LABEL_NOTE)
    driver.find_element(By.ID, "label-save").click()
    wait_for(
        driver, "the saved label", lambda d: "labelled normal" in d.find_element(By.ID, "label-status").text
    )
    assert driver.find_element(By.ID, "clip-label").text.startswith("normal")
    # What `humwatch history` reads.
    record = console.history.clips.find(THING, console.alert_clip_id)
    assert record is not None and (record.label, record.label_note) == ("normal", LABEL_NOTE)


def test_an_operator_acknowledges_the_alert_and_the_page_and_the_alert_state_show_it(
    driver: Chrome, console: Console
) -> None:
    sign_in(driver, console, "operator")
    open_route(driver, console, clip_path(console), "#ack-button").click()

    wait_for(
        driver,
        "the acknowledgement",
        lambda d: d.find_element(By.ID, "ack-status").text.startswith("Alert acknowledged"),
    )
    state = console.history.alert_states.get(THING)
    assert state is not None and state.alert.is_acknowledged
    open_route(driver, console, "/", "#fleet-body table")
    assert fleet_row(driver, THING).find_element(By.CSS_SELECTOR, ".badge").text.startswith("acked")


def test_the_models_page_shows_the_live_version_and_an_operator_promotes_the_candidate(
    driver: Chrome, console: Console, screenshot: Callable[[WebDriver, str], Path]
) -> None:
    sign_in(driver, console, "operator")
    open_route(driver, console, "/models", "#published-heading")
    rows = [tr.text for tr in driver.find_elements(By.CSS_SELECTOR, "table tbody tr")]
    live = [r for r in rows if r.startswith(RECIPES[0].model_id)]
    assert len(live) == 1 and console.versions[1] in live[0] and console.versions[0] not in live[0]
    (candidate,) = console.history.candidates.list(THING)
    assert any(r.startswith(THING) and candidate.version in r for r in rows)

    reports = open_candidates(driver)
    checks = wait_for(
        driver, "the gate report", lambda d: reports.find_elements(By.CSS_SELECTOR, ".checks li")
    )
    assert [li.text.split(":")[0][2:] for li in checks] == [
        "labelled anomalies",
        "labelled normals",
        "replay",
    ]
    screenshot(driver, "models")
    promote = reports.find_element(By.CSS_SELECTOR, "button[data-action=promote]")
    promote.click()
    if not candidate.passed:  # the page asks before forcing a candidate past a failed gate
        wait_for(driver, "the confirmation", lambda d: d.switch_to.alert).accept()
    wait_for(
        driver,
        "the promotion",
        lambda d: "promoted" in reports.find_element(By.CSS_SELECTOR, "[role=status]").text,
    )
    (after,) = console.history.candidates.list(THING)
    assert after.status is CandidateStatus.PROMOTED


def open_candidates(driver: WebDriver) -> WebElement:
    """fan-02's gate reports on the models page, expanded."""
    details = element(driver, f"details[data-device='{THING}']", f"{THING}'s candidates")
    details.find_element(By.TAG_NAME, "summary").click()
    return details


def test_the_pages_fit_a_phone_and_log_no_script_or_policy_errors(
    driver: Chrome, console: Console, screenshot: Callable[[WebDriver, str], Path]
) -> None:
    sign_in(driver, console, "operator")
    driver.get_log("browser")  # drop what the earlier tests left (the viewer's refused requests)
    driver.set_window_size(390, 844)
    try:
        for name, route, ready in (
            ("fleet", "/", "#fleet-body table"),
            ("device", f"/devices/{THING}", "svg.timeline[data-clips]"),
            ("clip", clip_path(console), "canvas#spectrogram"),
            ("models", "/models", "#published-heading"),
        ):
            open_route(driver, console, route, ready)
            screenshot(driver, f"{name}-phone")
            overflow = driver.execute_script(
                "return document.documentElement.scrollWidth - window.innerWidth"
            )
            assert overflow <= 0, f"{route} is wider than a phone's screen by {overflow} px"
    finally:
        driver.set_window_size(1280, 900)
    problems = [e["message"] for e in driver.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]
    assert not problems, problems
