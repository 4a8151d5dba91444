"""Screenshots of zoo serve's page (the README's): the list of models and each model's page, tried.

    zoo serve --port 8501 &                                   # the shipped models
    python examples/page_screenshots.py --wav digit.wav       # docs/page/*.png

Drives headless Chromium (Debian's chromium and chromium-driver, with selenium) as a person would:
types a sentence on a sentiment page, asks for a forecast, uploads `--wav` on a speech page, sends the
language model a text, then saves each page whole.
"""

import argparse
import pathlib
import shutil

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SENTENCE = "the plot was thin, but the cast was wonderful"


def driver_for(width):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", f"--window-size={width},900"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=webdriver.ChromeService(executable_path=shutil.which("chromedriver")))


def try_it(driver, task, wav):
    """Uses the panel as a person would, and waits for its answer."""
    wait = WebDriverWait(driver, 60)
    wait.until(lambda d: d.find_element(By.ID, "panel").get_attribute("data-ready") == "true")
    if task == "sentiment":
        box = driver.find_element(By.ID, "text")
        box.clear()
        box.send_keys(SENTENCE)
        wait.until(lambda d: d.find_element(By.ID, "result").get_attribute("data-text") == SENTENCE)
    elif task == "forecasting":
        driver.find_element(By.ID, "forecast").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#plot .uplot canvas"))
    elif task == "ctc_speech" and wav:
        driver.find_element(By.ID, "wav").send_keys(str(pathlib.Path(wav).resolve()))
        wait.until(lambda d: d.find_elements(By.ID, "digits"))
    elif driver.find_elements(By.ID, "input-text"):
        driver.find_element(By.ID, "input-text").send_keys('["this movie was"]')
        driver.find_element(By.ID, "predict").click()
        wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#result pre.answer"))


def save_whole(driver, path):
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(driver.get_window_size()["width"], min(height, 6000))
    driver.save_screenshot(str(path))
    print(path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--address", default="http://127.0.0.1:8501", help="where zoo serve answers")
    parser.add_argument("--wav", help="a recording for the speech pages")
    parser.add_argument("--out", type=pathlib.Path, default=pathlib.Path("docs/page"))
    parser.add_argument("--width", type=int, default=1100)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    driver = driver_for(args.width)
    try:
        driver.get(args.address + "/")
        save_whole(driver, args.out / "models.png")
        rows = [(row.get_attribute("data-model"), row.find_elements(By.TAG_NAME, "td")[1].text)
                for row in driver.find_elements(By.CSS_SELECTOR, "#models tbody tr[data-model]")]
        for name, task in rows:
            driver.set_window_size(args.width, 900)
            driver.get(f"{args.address}/models/{name}/")
            try_it(driver, task, args.wav)
            save_whole(driver, args.out / f"{name}.png")
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
