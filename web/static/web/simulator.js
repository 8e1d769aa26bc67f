// The what-if simulator: each slider move asks the API's forwardPrediction
// (cached on the server) for the plan, at most one request in flight per pause
// in typing (debounced), and only the latest answer is drawn.
(function () {
  "use strict";
  var S = window.Studiosim;
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var currency = data.currency;
  var DEBOUNCE_MS = 250;

  var FORECAST = "query Simulate($input: ForwardPredictionInput!) {\n" +
    "  forwardPrediction(input: $input) {\n" +
    "    predictionId totalProjectedRevenue growthRate coverage\n" +
    "    predictions { monthYear revenue memberCount confidenceScore confidenceInterval { lower upper } }\n" +
    "  }\n}";

  var levers = {};
  data.levers.forEach(function (lever) { levers[lever.lever] = lever; });
  var sliders = Array.prototype.slice.call(document.querySelectorAll('#levers input[type="range"]'));
  var monthsSelect = document.getElementById("months");
  var status = document.getElementById("status");
  var statusQuo = { months: data.months, predictions: data.statusQuo };
  var current = { predictionId: data.predictionId, predictions: null, total: null };
  var timer = null;
  var sequence = 0;

  function initialValue(slider) {
    return Number(slider.defaultValue);
  }

  function plan() {
    // The levers moved away from today's value; the rest keep the base month's.
    var input = {};
    sliders.forEach(function (slider) {
      var lever = levers[slider.name];
      var value = Number(slider.value);
      if (Math.abs(value - initialValue(slider)) > Number(slider.step) / 2) {
        input[lever.field] = value;
      }
    });
    return input;
  }

  function describe(slider) {
    var lever = levers[slider.name];
    var value = Number(slider.value);
    var moved = Math.abs(value - initialValue(slider)) > Number(slider.step) / 2;
    var shown = moved ? value : lever.today;
    var text = lever.unit === "money" ? S.money(shown, currency, 2) : S.formatUnit(shown, lever.unit, currency);
    var output = document.getElementById("out-" + slider.name);
    output.textContent = text;
    output.classList.toggle("moved", moved);
    slider.setAttribute("aria-valuetext", text + (moved ? "" : ", today's value"));
    var warning = document.getElementById("warn-" + slider.name);
    var message = "";
    var half = Number(slider.step) / 2;
    if (lever.peerHigh !== null && value > lever.peerHigh + half) {
      message = "Above what studios like yours run (95% of their months are at most " +
        S.formatUnit(lever.peerHigh, lever.unit, currency) + "): the model has little data there.";
    } else if (lever.peerLow !== null && value < lever.peerLow - half) {
      message = "Below what studios like yours run (95% of their months are at least " +
        S.formatUnit(lever.peerLow, lever.unit, currency) + "): the model has little data there.";
    } else if (lever.historyHigh !== null && value > lever.historyHigh + Number(slider.step) / 2) {
      message = "Above anything in this studio's history (highest " +
        S.formatUnit(lever.historyHigh, lever.unit, currency) + "): the forecast extrapolates.";
    } else if (lever.historyLow !== null && value < lever.historyLow - Number(slider.step) / 2) {
      message = "Below anything in this studio's history (lowest " +
        S.formatUnit(lever.historyLow, lever.unit, currency) + "): the forecast extrapolates.";
    }
    warning.textContent = message;
    warning.hidden = !message;
  }

  function chartSpec(predictions, coverage) {
    var labels = data.history.map(function (h) { return h.monthYear.slice(0, 7); });
    var actual = data.history.map(function (h) { return h.revenue; });
    var last = actual.length ? actual[actual.length - 1] : null;
    var start = labels.map(function (_, i) { return i === labels.length - 1 ? last : null; });
    var pad = predictions.map(function () { return null; });
    predictions.forEach(function (p) { labels.push(p.monthYear.slice(0, 7)); });
    var series = [{ name: "Revenue", values: actual.concat(pad), color: "#1d2733", axis: "y" }];
    if (statusQuo.predictions.length === predictions.length) {
      series.push({
        name: "Today's plan", color: "#7a8594", dashed: true, axis: "y",
        values: start.concat(statusQuo.predictions.map(function (p) { return p.revenue; })),
      });
    }
    series.push({
      name: "Forecast", color: "#0072b2", axis: "y",
      values: start.concat(predictions.map(function (p) { return p.revenue; })),
      lower: start.concat(predictions.map(function (p) { return p.lower; })),
      upper: start.concat(predictions.map(function (p) { return p.upper; })),
      bandName: Math.round(coverage * 100) + "% interval",
    });
    return { title: "Forecast", labels: labels, series: series, marks: [], unit: "money", currency: currency };
  }

  function render(predictions, total, coverage) {
    var rows = document.getElementById("forecast-rows");
    rows.textContent = "";
    predictions.forEach(function (p, i) {
      var quo = statusQuo.predictions[i];
      var difference = quo ? p.revenue - quo.revenue : null;
      var cells = [
        S.monthName(p.monthYear), S.money(p.revenue, currency),
        p.lower === null ? "—" : S.money(p.lower, currency) + " – " + S.money(p.upper, currency),
        difference === null ? "—" : (difference >= 0 ? "+" : "") + S.money(difference, currency),
        S.count(p.memberCount), S.percent(p.confidence, 0),
      ];
      var tr = document.createElement("tr");
      cells.forEach(function (text, j) {
        var cell = document.createElement(j === 0 ? "th" : "td");
        if (j === 0) { cell.scope = "row"; } else { cell.className = "num"; }
        cell.textContent = text;
        tr.appendChild(cell);
      });
      rows.appendChild(tr);
    });
    var last = predictions[predictions.length - 1];
    document.getElementById("last-month").textContent = S.monthName(last.monthYear).split(" ")[0];
    document.getElementById("last-revenue").textContent = S.money(last.revenue, currency);
    document.getElementById("last-interval").textContent = last.lower === null ? "" :
      S.money(last.lower, currency) + " – " + S.money(last.upper, currency) +
      " (" + Math.round(coverage * 100) + "% interval)";
    document.getElementById("last-members").textContent = S.count(last.memberCount);
    document.getElementById("total-months").textContent = predictions.length;
    document.getElementById("total-revenue").textContent = S.money(total, currency);
    var quoTotal = statusQuo.predictions.reduce(function (sum, p) { return sum + p.revenue; }, 0);
    var delta = total - quoTotal;
    var versus = Math.abs(delta) < 0.5 ? "as today's plan" :
      (delta > 0 ? "+" : "") + S.money(delta, currency) + " against today's plan";
    document.getElementById("total-vs").textContent = versus;
    // The same figures at the top of the levers, kept in view on narrow screens.
    document.getElementById("live-months").textContent = predictions.length;
    document.getElementById("live-total").textContent = S.money(total, currency);
    document.getElementById("live-vs").textContent = versus;
    var chart = S.charts["chart-simulation"];
    if (chart) { S.updateChart(chart, chartSpec(predictions, coverage)); }
  }

  function asMonths(prediction) {
    return prediction.predictions.map(function (m) {
      var interval = m.confidenceInterval || { lower: null, upper: null };
      return {
        monthYear: m.monthYear, revenue: m.revenue, lower: interval.lower, upper: interval.upper,
        memberCount: m.memberCount, confidence: m.confidenceScore,
      };
    });
  }

  function forecast(months, leversInput) {
    return S.gql(FORECAST, { input: {
      studioId: data.studioId, baseMonth: data.baseMonth, projectionMonths: months, levers: leversInput,
    } }).then(function (result) { return result.forwardPrediction; });
  }

  function refresh() {
    var months = Number(monthsSelect.value);
    var mine = ++sequence;
    status.textContent = "Updating the forecast…";
    var needQuo = statusQuo.months !== months;
    var quo = needQuo ? forecast(months, {}) : Promise.resolve(null);
    Promise.all([forecast(months, plan()), quo]).then(function (answers) {
      if (mine !== sequence) { return; }  // a newer request is on its way
      if (answers[1]) { statusQuo = { months: months, predictions: asMonths(answers[1]) }; }
      var prediction = answers[0];
      current.predictionId = prediction.predictionId;
      render(asMonths(prediction), prediction.totalProjectedRevenue, prediction.coverage);
      var changed = Object.keys(plan()).length;
      status.textContent = changed ?
        "Forecast for your plan (" + changed + " lever" + (changed > 1 ? "s" : "") + " changed)." :
        "Today's levers.";
    }).catch(function (error) {
      if (mine !== sequence) { return; }
      status.textContent = "Could not update the forecast: " + error.message;
    });
  }

  function schedule() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(refresh, DEBOUNCE_MS);
  }

  sliders.forEach(function (slider) {
    describe(slider);
    slider.addEventListener("input", function () { describe(slider); schedule(); });
  });
  monthsSelect.addEventListener("change", schedule);
  document.getElementById("reset").addEventListener("click", function () {
    sliders.forEach(function (slider) { slider.value = slider.defaultValue; describe(slider); });
    schedule();
  });

  S.bindSaveForm(data.studioId, function () { return current.predictionId; });
})();
