// The target planner: the form becomes an inversePrediction (the optimiser on the
// forward model); its plan is drawn against the status-quo forecast and can be
// saved as a scenario with the optimizationId.
(function () {
  "use strict";
  var S = window.Studiosim;
  var data = JSON.parse(document.getElementById("page-data").textContent);
  var currency = data.currency;
  var labels = {};
  var units = {};
  data.levers.forEach(function (lever) {
    labels[lever.lever.toUpperCase()] = lever.label;
    units[lever.lever.toUpperCase()] = lever.unit;
  });

  var PLAN = "query Plan($input: InversePredictionInput!) {\n" +
    "  inversePrediction(input: $input) {\n" +
    "    optimizationId reachable message targetRevenue targetKind targetMonths\n" +
    "    currentRevenue achievableRevenue projectedRevenue achievementRate confidenceScore monthlyRevenue\n" +
    "    bindingConstraints { lever kind description }\n" +
    "    leverChanges { lever current recommended changePct impactOnRevenue estimatedCost }\n" +
    "    actionPlan { priority lever action specifics expectedImpact timelineWeeks cost }\n" +
    "    alternatives { leadLever revenue leverChanges { lever current recommended } }\n" +
    "  }\n}";
  var STATUS_QUO = "query StatusQuo($input: ForwardPredictionInput!) {\n" +
    "  forwardPrediction(input: $input) { predictions { monthYear revenue confidenceInterval { lower upper } } }\n}";

  var form = document.getElementById("plan-form");
  var status = document.getElementById("plan-status");
  var button = document.getElementById("plan-button");
  var statusQuo = { months: data.months, predictions: data.statusQuo };
  var optimizationId = null;

  function leverValue(lever, value) {
    var unit = units[lever];
    return unit === "money" ? S.money(value, currency, 2) : S.formatUnit(value, unit, currency);
  }

  function leverStep(lever, delta) {
    var unit = units[lever];
    if (unit === "rate") { return (delta >= 0 ? "+" : "") + (delta * 100).toFixed(1) + " pts"; }
    if (unit === "money") { return (delta >= 0 ? "+" : "-") + S.money(Math.abs(delta), currency, 2); }
    return (delta >= 0 ? "+" : "") + Math.round(delta);
  }

  function cost(value) { return value.charAt(0) + value.slice(1).toLowerCase(); }

  function request() {
    var months = Number(form.elements.months.value);
    var constraints = { lockedLevers: [], prioritizeLowCostLevers: form.elements.cheap.checked };
    form.querySelectorAll('input[type="number"][data-lever]').forEach(function (input) {
      if (input.value === "") { return; }
      var value = Number(input.value);
      constraints[input.name] = input.dataset.unit === "rate" ? value / 100 : value;
    });
    form.querySelectorAll('input[name="lock"]:checked').forEach(function (box) {
      constraints.lockedLevers.push(box.value);
    });
    return {
      studioId: data.studioId, baseMonth: data.baseMonth,
      targetRevenue: Number(form.elements.target.value),
      targetMonths: months, targetKind: form.elements.kind.value, constraints: constraints,
    };
  }

  function cell(row, text, className, header) {
    var element = document.createElement(header ? "th" : "td");
    if (header) { element.scope = "row"; }
    if (className) { element.className = className; }
    if (text instanceof Node) { element.appendChild(text); } else { element.textContent = text; }
    row.appendChild(element);
    return element;
  }

  function chartSpec(plan) {
    var labels = data.history.map(function (h) { return h.monthYear.slice(0, 7); });
    var actual = data.history.map(function (h) { return h.revenue; });
    var last = actual.length ? actual[actual.length - 1] : null;
    var start = labels.map(function (_, i) { return i === labels.length - 1 ? last : null; });
    var pad = plan.monthlyRevenue.map(function () { return null; });
    statusQuo.predictions.forEach(function (p) { labels.push(p.monthYear.slice(0, 7)); });
    var marks = [];
    if (plan.targetKind === "MONTH") {
      marks.push({
        name: "Target", color: "#b42318", shape: "rectRot",
        points: [{ x: labels[labels.length - 1], y: plan.targetRevenue, note: "target " + S.money(plan.targetRevenue, currency) }],
      });
    }
    return {
      title: "Revenue forecast", labels: labels, unit: "money", currency: currency, marks: marks,
      series: [
        { name: "Revenue", values: actual.concat(pad), color: "#1d2733", axis: "y" },
        {
          name: "Today's levers", color: "#7a8594", dashed: true, axis: "y",
          values: start.concat(statusQuo.predictions.map(function (p) { return p.revenue; })),
          lower: start.concat(statusQuo.predictions.map(function (p) { return p.lower; })),
          upper: start.concat(statusQuo.predictions.map(function (p) { return p.upper; })),
          bandName: "Today's levers: 80% interval",
        },
        { name: "Plan", color: "#0072b2", axis: "y", values: start.concat(plan.monthlyRevenue) },
      ],
    };
  }

  function render(plan) {
    optimizationId = plan.optimizationId;
    var message = document.getElementById("plan-message");
    message.hidden = false;
    message.className = plan.reachable ? "success" : "notice";
    message.textContent = plan.message;
    document.getElementById("plan-figures").hidden = false;
    var what = plan.targetKind === "MONTH" ? "in month " + plan.targetMonths : "over " + plan.targetMonths + " months";
    document.getElementById("fig-target").textContent = S.money(plan.targetRevenue, currency);
    document.getElementById("fig-target-note").textContent = what;
    document.getElementById("fig-projected").textContent = S.money(plan.projectedRevenue, currency);
    document.getElementById("fig-rate").textContent = S.percent(plan.achievementRate, 1) + " of the target";
    document.getElementById("fig-current").textContent = S.money(plan.currentRevenue, currency);
    document.getElementById("fig-achievable").textContent = S.money(plan.achievableRevenue, currency);
    document.getElementById("fig-confidence").textContent = S.percent(plan.confidenceScore, 0);

    var changes = document.getElementById("lever-changes");
    changes.textContent = "";
    plan.leverChanges.forEach(function (change) {
      var tr = document.createElement("tr");
      var delta = change.recommended - change.current;
      var moved = Math.abs(delta) > 1e-9;
      if (moved) { tr.className = "changed"; }
      cell(tr, labels[change.lever], "", true);
      cell(tr, leverValue(change.lever, change.current), "num");
      cell(tr, leverValue(change.lever, change.recommended), "num");
      cell(tr, moved ? leverStep(change.lever, delta) : "—", "num");
      cell(tr, moved ? (change.impactOnRevenue >= 0 ? "+" : "") + S.money(change.impactOnRevenue, currency) : "—", "num");
      cell(tr, moved ? cost(change.estimatedCost) : "", "");
      changes.appendChild(tr);
    });

    var actions = document.getElementById("action-plan");
    actions.textContent = "";
    if (!plan.actionPlan.length) {
      var empty = document.createElement("tr");
      var only = cell(empty, "No lever needs to change.", "muted");
      only.colSpan = 5;
      actions.appendChild(empty);
    }
    plan.actionPlan.forEach(function (action) {
      var tr = document.createElement("tr");
      cell(tr, String(action.priority), "");
      var what = document.createElement("div");
      var strong = document.createElement("strong");
      strong.textContent = action.action;
      var detail = document.createElement("div");
      detail.className = "muted small";
      detail.textContent = action.specifics;
      what.appendChild(strong);
      what.appendChild(detail);
      cell(tr, what, "");
      cell(tr, "+" + S.money(action.expectedImpact, currency), "num");
      cell(tr, String(action.timelineWeeks), "num");
      cell(tr, cost(action.cost), "");
      actions.appendChild(tr);
    });

    var binding = document.getElementById("binding");
    var bindingList = document.getElementById("binding-list");
    bindingList.textContent = "";
    plan.bindingConstraints.forEach(function (constraint) {
      var li = document.createElement("li");
      li.textContent = constraint.description;
      bindingList.appendChild(li);
    });
    binding.hidden = plan.reachable || !plan.bindingConstraints.length;

    var alternatives = document.getElementById("alternatives");
    alternatives.textContent = "";
    plan.alternatives.forEach(function (alternative) {
      var li = document.createElement("li");
      var moves = alternative.leverChanges.map(function (change) {
        return labels[change.lever] + " " + leverValue(change.lever, change.current) + " → " +
          leverValue(change.lever, change.recommended);
      });
      li.textContent = (alternative.leadLever ? labels[alternative.leadLever] + "-led: " : "") +
        S.money(alternative.revenue, currency) + " with " + moves.join(", ");
      alternatives.appendChild(li);
    });
    document.getElementById("alternatives-block").hidden = !plan.alternatives.length;
    document.getElementById("plan-details").hidden = false;

    var chart = S.charts["chart-plan"];
    if (chart) { S.updateChart(chart, chartSpec(plan)); }
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var input = request();
    if (!(input.targetRevenue > 0)) {
      status.textContent = "Enter a revenue target above zero.";
      form.elements.target.focus();
      return;
    }
    button.disabled = true;
    status.textContent = "Looking for the cheapest plan…";
    var months = input.targetMonths;
    var quo = statusQuo.months === months ? Promise.resolve(null) : S.gql(STATUS_QUO, {
      input: { studioId: data.studioId, baseMonth: data.baseMonth, projectionMonths: months },
    });
    Promise.all([S.gql(PLAN, { input: input }), quo]).then(function (answers) {
      if (answers[1]) {
        statusQuo = {
          months: months,
          predictions: answers[1].forwardPrediction.predictions.map(function (p) {
            var interval = p.confidenceInterval || { lower: null, upper: null };
            return { monthYear: p.monthYear, revenue: p.revenue, lower: interval.lower, upper: interval.upper };
          }),
        };
      }
      render(answers[0].inversePrediction);
      status.textContent = answers[0].inversePrediction.reachable ? "Plan found." : "The target is out of reach within your limits.";
    }).catch(function (error) {
      status.textContent = "No plan: " + error.message;
    }).then(function () { button.disabled = false; });
  });

  // Disabled in the page until the handler above is bound: pressed before, the
  // form would be sent as a plain GET and the page reloaded with the defaults.
  button.disabled = false;

  S.bindSaveForm(data.studioId, function () { return optimizationId; });
})();
