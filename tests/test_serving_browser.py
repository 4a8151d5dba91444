"""zoo serve's page in a real browser: headless Chromium (Debian's chromium and chromium-driver, which
.ci/run installs) driven by Selenium. Each model page calls the REST API, so what it shows must equal
what a client gets; the tests skip, saying why, where no browser can be had."""

import io
import json
import shutil

import numpy as np
import pytest
import soundfile

import zoo
from tests.conftest import start_rest_server

CHROMIUM, CHROMEDRIVER = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="no selenium (pip install -e '.[test]')")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("no browser: install Debian's chromium and chromium-driver (as .ci/run does)", allow_module_level=True)

from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

WAIT_SECONDS = 30


@pytest.fixture(scope="module")
def page(tiny_exports):
    """(a Chromium driver, the page's address, the tiny exports) with zoo serve answering on a free port."""
    base = next(iter(tiny_exports.values())).path.parent.parent
    client, _, stop = start_rest_server(base)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900",
                 # a microphone that says a tone, allowed without asking
                 "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    yield driver, f"http://127.0.0.1:{client.port}", tiny_exports
    driver.quit()
    stop()


def wait(driver, condition):
    return WebDriverWait(driver, WAIT_SECONDS).until(condition)


def open_model(driver, address, name):
    driver.get(f"{address}/models/{name}/")
    wait(driver, lambda d: d.find_element(By.ID, "panel").get_attribute("data-ready") == "true")


def test_the_list_shows_the_served_models(page):
    driver, address, exports = page
    driver.get(address + "/")
    rows = driver.find_elements(By.CSS_SELECTOR, "#models tbody tr")
    assert sorted(row.get_attribute("data-model") for row in rows) == sorted(
        export.path.parent.name for export in exports.values())


def test_a_sentence_gets_the_probabilities_a_client_gets(page):
    driver, address, exports = page
    open_model(driver, address, "sentiment-tiny")
    sentence = "the plot was thin but the cast was great"
    box = driver.find_element(By.ID, "text")
    box.clear()
    box.send_keys(sentence)
    wait(driver, lambda d: d.find_element(By.ID, "result").get_attribute("data-text") == sentence)
    shown = [float(bar.find_element(By.CLASS_NAME, "value").text)
             for bar in driver.find_elements(By.CSS_SELECTOR, "#result .bar")]
    direct = zoo.load(exports["sentiment"].path)(text=[sentence])["probabilities"][0]
    np.testing.assert_allclose(shown, direct, atol=1e-4)  # the bars print 4 decimals


def test_a_forecast_is_plotted_and_a_bad_series_shows_the_servers_message(page):
    driver, address, _ = page
    open_model(driver, address, "forecasting-tiny")
    driver.find_element(By.ID, "forecast").click()
    wait(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#plot .uplot canvas"))
    assert driver.find_element(By.ID, "horizon").text.endswith("steps ahead")
    history = driver.find_element(By.ID, "history")
    history.clear()
    history.send_keys("1, 2, two, 4")
    driver.find_element(By.ID, "forecast").click()
    error = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#result .error"))
    assert "Input 'history'[0][2]" in error.text and '"two"' in error.text
    assert not driver.find_elements(By.CSS_SELECTOR, "#plot .uplot")


def test_a_wav_upload_shows_the_digits_a_client_gets(page, tmp_path):
    driver, address, exports = page
    export = exports["ctc_speech"]
    samples = export.examples["waveform"][0][: export.examples["length"][0]]
    wav = tmp_path / "digits.wav"
    soundfile.write(wav, samples, 8000, subtype="PCM_16")
    open_model(driver, address, "ctc_speech-tiny")
    driver.find_element(By.ID, "wav").send_keys(str(wav))
    shown = wait(driver, lambda d: d.find_element(By.ID, "digits")).text
    decoded, _ = soundfile.read(io.BytesIO(wav.read_bytes()), dtype="float32")
    direct = zoo.load(export.path)(waveform=decoded[None], length=[len(decoded)])["text"][0].decode()
    assert shown == (direct or "(no digits)")
    assert driver.find_element(By.ID, "posteriors").get_attribute("width") != "300"  # drawn: one column a frame


def test_what_the_microphone_hears_is_recognised(page):
    """Chromium's fake microphone (a tone): recorded, decoded and resampled in the page, sent as a waveform."""
    driver, address, _ = page
    open_model(driver, address, "ctc_speech-tiny")
    record = driver.find_element(By.ID, "record")
    record.click()
    wait(driver, lambda d: record.text == "Stop")
    driver.execute_script("return new Promise((done) => setTimeout(done, 1200))")
    record.click()
    answer = wait(driver, lambda d: d.find_elements(By.ID, "digits") or d.find_elements(By.CSS_SELECTOR, "#result .error"))
    assert answer[0].get_attribute("id") == "digits", answer[0].text  # an answer, not an error
    assert record.text == "Record"


def test_a_task_without_a_widget_gets_a_form_of_its_inputs(page):
    """The language model has no widget of its own: its text input, given as JSON, answers as a client's call."""
    driver, address, exports = page
    export = exports["language_model"]
    open_model(driver, address, export.path.parent.name)
    field = driver.find_element(By.ID, "input-text")
    field.send_keys('["this movie was"]')
    driver.find_element(By.ID, "predict").click()
    answer = wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, "#result pre.answer"))
    shown = json.loads(answer.text)
    direct = zoo.load(export.path)(text=["this movie was"])
    assert set(shown) == set(direct)
    np.testing.assert_allclose(shown["probabilities"], direct["probabilities"], atol=1e-6)
