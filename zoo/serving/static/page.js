"use strict";
/* The try-it panel of a model page (zoo/serving/page.py).

   It reads the model's signatures (GET /v1/models/<name>/metadata) and calls the REST API a client
   calls (POST /v1/models/<name>:predict), so what it shows is what a client gets, errors included:
   a refused request's message is shown beside the field. By task:
   - sentiment: a text box; the class probabilities as bars, as you type (debounced);
   - forecasting: a series typed or pasted (or a CSV row dropped) -> history, forecast and quantile band (uPlot);
   - ctc_speech: a WAV file (posted as it is to the `wav` signature) or the microphone (decoded and
     resampled here) -> the digits, and the per-frame posteriors as a picture;
   - any other task: a form of the serving signature's inputs, the answer as JSON. */
(function () {
  const factsNode = document.getElementById("model-facts");
  if (!factsNode) return;  // the list of models
  const facts = JSON.parse(factsNode.textContent);
  const panel = document.getElementById("panel");
  const api = "/v1/models/" + encodeURIComponent(facts.name);
  const TYPING_PAUSE_MS = 300;

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attributes || {})) {
      if (key === "class") node.className = value;
      else node.setAttribute(key, value);
    }
    node.append(...children);
    return node;
  }

  const NAN = "\u0000NaN";  // JSON has no NaN; TF Serving's REST API (and zoo serve) reads the literal NaN

  function toJson(body) {
    return JSON.stringify(body, (key, value) => (Number.isNaN(value) ? NAN : value))
      .replaceAll(JSON.stringify(NAN), "NaN");
  }

  async function predict(body) {
    const response = await fetch(api + ":predict", {
      method: "POST", headers: {"Content-Type": "application/json"}, body: toJson(body),
    });
    let answer;
    try {
      answer = await response.json();
    } catch (error) {
      throw new Error(`${response.status} ${response.statusText}`);
    }
    if (!response.ok) throw new Error(answer.error || `${response.status} ${response.statusText}`);
    return answer;
  }

  function showError(box, error) {
    box.replaceChildren(el("div", {class: "error", role: "alert"}, error.message));
  }

  function debounce(action, milliseconds) {
    let timer;
    return () => {
      clearTimeout(timer);
      timer = setTimeout(action, milliseconds);
    };
  }

  // ------------------------------------------------------------------ sentiment

  function bar(name, value) {
    const fill = el("div", {class: "fill"});
    fill.style.width = (100 * value).toFixed(1) + "%";
    return el("div", {class: "bar", "data-class": name}, el("span", {class: "name"}, name),
              el("div", {class: "track"}, fill), el("span", {class: "value"}, value.toFixed(4)));
  }

  function sentiment() {
    const text = el("textarea", {id: "text", rows: "3", placeholder: "Type a review"});
    text.value = "a fine film, if a little long";
    const result = el("div", {id: "result", "aria-live": "polite"});
    panel.append(el("label", {for: "text"}, "Text"), text, result);
    const update = debounce(async () => {
      try {
        const answer = await predict({instances: [text.value]});
        const probabilities = answer.predictions[0].probabilities;
        result.replaceChildren(...probabilities.map((p, i) => bar(facts.classes[i] || String(i), p)));
        result.dataset.text = text.value;  // which text these probabilities answer
      } catch (error) {
        showError(result, error);
      }
    }, TYPING_PAUSE_MS);
    text.addEventListener("input", update);
    update();
  }

  // ---------------------------------------------------------------- forecasting

  function parseSeries(text) {
    // Numbers as numbers, "nan" as NaN (a missing value); anything else as typed, so the server names it.
    return text.split(/[\s,;]+/).filter((token) => token !== "").map((token) => {
      if (/^nan$/i.test(token)) return NaN;
      const value = Number(token);
      return Number.isFinite(value) ? value : token;
    });
  }

  function plotForecast(box, history, forecast, quantiles) {
    const n = history.length, horizon = forecast.length;
    const x = Array.from({length: n + horizon}, (_, t) => t);
    const pad = (values, before, after) => [...Array(before).fill(null), ...values, ...Array(after).fill(null)];
    const numeric = history.map((v) => (Number.isFinite(v) ? v : null));  // missing or refused: a gap
    const data = [x, pad(numeric, 0, horizon), pad(forecast, n, 0)];
    const series = [{}, {label: "history", stroke: "#374151"}, {label: "forecast", stroke: "#2563eb", width: 2}];
    const bands = [];
    if (quantiles) {
      const last = quantiles[0].length - 1;
      data.push(pad(quantiles.map((q) => q[last]), n, 0), pad(quantiles.map((q) => q[0]), n, 0));
      series.push({label: "upper quantile", stroke: "#93c5fd"}, {label: "lower quantile", stroke: "#93c5fd"});
      bands.push({series: [3, 4], fill: "rgba(37, 99, 235, 0.15)"});
    }
    box.replaceChildren();
    const width = Math.max(320, box.clientWidth || 640);
    new uPlot({width, height: 300, series, bands, scales: {x: {time: false}}}, data, box);
  }

  function forecasting() {
    const series = el("textarea", {id: "history", rows: "4",
                                   placeholder: "numbers separated by commas, spaces or new lines; or drop a CSV row"});
    series.value = Array.from({length: 72}, (_, t) => (100 + 30 * Math.sin(2 * Math.PI * t / 24)).toFixed(1)).join(", ");
    const go = el("button", {id: "forecast", type: "button"}, "Forecast");
    const error = el("div", {id: "result", "aria-live": "polite"});
    const plot = el("div", {id: "plot"});
    panel.append(el("label", {for: "history"}, "History"), series, go, error, plot);
    series.addEventListener("dragover", (event) => event.preventDefault());
    series.addEventListener("drop", async (event) => {
      event.preventDefault();
      const file = event.dataTransfer.files[0];
      if (!file) return;
      const rows = (await file.text()).split(/\r?\n/).filter((row) => /\d/.test(row));
      series.value = rows.length ? rows[rows.length > 1 ? 1 : 0] : "";  // the first data row, past a header
    });
    go.addEventListener("click", async () => {
      const history = parseSeries(series.value);
      try {
        const answer = await predict({instances: [{history}]});
        const row = answer.predictions[0];
        const forecast = Array.isArray(row) ? row : row.forecast;
        error.replaceChildren(el("span", {class: "muted", id: "horizon"}, `${forecast.length} steps ahead`));
        plotForecast(plot, history, forecast, Array.isArray(row) ? null : row.quantiles);
      } catch (failure) {
        showError(error, failure);
        plot.replaceChildren();
      }
    });
  }

  // ------------------------------------------------------------------ speech

  function base64(buffer) {
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(binary);
  }

  async function decodedSamples(buffer, rate) {
    // Any format the browser decodes, as mono float samples at the model's rate.
    const decoded = await new AudioContext().decodeAudioData(buffer);
    const offline = new OfflineAudioContext(1, Math.max(1, Math.ceil(decoded.duration * rate)), rate);
    const source = offline.createBufferSource();
    source.buffer = decoded;
    source.connect(offline.destination);
    source.start();
    return Array.from((await offline.startRendering()).getChannelData(0));
  }

  function drawPosteriors(canvas, logits) {
    const frames = logits.length, symbols = logits[0].length;
    canvas.width = frames;
    canvas.height = symbols;
    const context = canvas.getContext("2d");
    const image = context.createImageData(frames, symbols);
    logits.forEach((row, t) => {
      const top = Math.max(...row);
      const exp = row.map((v) => Math.exp(v - top));
      const total = exp.reduce((a, b) => a + b, 0);
      exp.forEach((e, k) => {
        const shade = 255 - Math.round(255 * e / total), at = 4 * (k * frames + t);
        image.data.set([shade, shade, 255, 255], at);
      });
    });
    context.putImageData(image, 0, 0);
  }

  function speech(signatures) {
    const file = el("input", {type: "file", id: "wav", accept: "audio/*,.wav"});
    const record = el("button", {id: "record", type: "button"}, "Record");
    const result = el("div", {id: "result", "aria-live": "polite"});
    const canvas = el("canvas", {class: "posteriors", id: "posteriors", title: "per-frame posteriors (rows: digits 0-9, blank)"});
    panel.append(el("label", {for: "wav"}, "A recording (WAV, or anything the browser decodes)"), file, record, result,
                 canvas);
    const show = (answer) => {
      const row = answer.predictions[0];
      result.replaceChildren(el("div", {class: "digits", id: "digits"}, row.text || "(no digits)"));
      if (row.logits && row.logits.length) drawPosteriors(canvas, row.logits.slice(0, row.frame_lengths || undefined));
    };
    const recognise = async (buffer, isWav) => {
      try {
        if (isWav && signatures.wav) {  // the file as it is, as curl would post it
          show(await predict({signature_name: "wav", instances: [{b64: base64(buffer)}]}));
        } else {
          const waveform = await decodedSamples(buffer, facts.sample_rate);
          show(await predict({instances: [{waveform, length: waveform.length}]}));
        }
      } catch (error) {
        showError(result, error);
      }
    };
    file.addEventListener("change", async () => {
      const chosen = file.files[0];
      if (!chosen) return;
      const buffer = await chosen.arrayBuffer();
      const head = new TextDecoder().decode(buffer.slice(0, 4));
      recognise(buffer, head === "RIFF");
    });
    let recorder = null;
    record.addEventListener("click", async () => {
      if (recorder) {
        recorder.stop();
        return;
      }
      try {
        const stream = await navigator.mediaDevices.getUserMedia({audio: true});
        const chunks = [];
        recorder = new MediaRecorder(stream);
        recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
        recorder.addEventListener("stop", async () => {
          stream.getTracks().forEach((track) => track.stop());
          recorder = null;
          record.textContent = "Record";
          recognise(await new Blob(chunks).arrayBuffer(), false);
        });
        recorder.start();
        record.textContent = "Stop";
      } catch (error) {
        showError(result, new Error(`The microphone: ${error.message}`));
      }
    });
  }

  // -------------------------------------------------------------- any task

  function generic(signatures) {
    const signature = signatures.serving_default;
    const fields = {};
    for (const [name, spec] of Object.entries(signature.inputs)) {
      fields[name] = el("input", {type: "text", id: `input-${name}`, name, placeholder: `${spec.dtype} (JSON)`});
      panel.append(el("label", {for: `input-${name}`}, `${name} (${spec.dtype})`), fields[name]);
    }
    const go = el("button", {id: "predict", type: "button"}, "Predict");
    const result = el("div", {id: "result", "aria-live": "polite"});
    panel.append(go, result);
    go.addEventListener("click", async () => {
      const inputs = {};
      for (const [name, field] of Object.entries(fields)) {
        try {
          inputs[name] = JSON.parse(field.value);
        } catch (error) {
          inputs[name] = field.value;  // a text as it is
        }
      }
      try {
        const answer = await predict({inputs});
        result.replaceChildren(el("pre", {class: "answer"}, JSON.stringify(answer.outputs, null, 1)));
      } catch (error) {
        showError(result, error);
      }
    });
  }

  const WIDGETS = {sentiment, forecasting, ctc_speech: speech};

  fetch(api + "/metadata").then((response) => response.json()).then((metadata) => {
    if (metadata.error) throw new Error(metadata.error);
    const signatures = metadata.metadata.signature_def.signature_def;
    panel.replaceChildren();
    (WIDGETS[facts.task] || generic)(signatures);
    panel.dataset.ready = "true";
  }).catch((error) => showError(panel, error));
})();
