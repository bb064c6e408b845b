// Team queue (templates/team/queue.html): a "select all on this page" box, the number of ticked cases, and a
// step list that offers only the steps every ticked case allows. Without it the page still works: the
// server refuses a step that does not fit every selected case, with a message.
(function () {
  "use strict";
  var form = document.getElementById("bulk-form");
  if (!form) { return; }
  var boxes = Array.prototype.slice.call(document.querySelectorAll('input[type="checkbox"][name="case_id"]'));
  var all = document.getElementById("select-all");
  var trigger = document.getElementById("bulk-trigger");
  var count = document.getElementById("bulk-selected-count");

  function stepsOf(box) {
    return (box.getAttribute("data-steps") || "").split(" ").filter(Boolean);
  }

  function update() {
    var ticked = boxes.filter(function (box) { return box.checked; });
    if (count && ticked.length) {
      count.textContent = count.getAttribute("data-template").replace("{n}", String(ticked.length));
    }
    if (all) {
      all.checked = boxes.length > 0 && ticked.length === boxes.length;
      all.indeterminate = ticked.length > 0 && ticked.length < boxes.length;
    }
    if (trigger) {
      var sets = ticked.map(stepsOf);
      Array.prototype.forEach.call(trigger.options, function (option) {
        if (!option.value) { return; }
        option.disabled = sets.some(function (steps) { return steps.indexOf(option.value) < 0; });
        if (option.disabled && option.selected) { trigger.value = ""; }
      });
    }
  }

  boxes.forEach(function (box) { box.addEventListener("change", update); });
  if (all) {
    all.hidden = false;
    all.addEventListener("change", function () {
      boxes.forEach(function (box) { box.checked = all.checked; });
      update();
    });
  }
  update();
}());
