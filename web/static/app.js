// nasauth-web: the one script (the page works without it). It only says, before the
// form is sent, when the two new passwords differ.
'use strict';
document.addEventListener('DOMContentLoaded', function () {
  document.querySelectorAll('input[data-same-as]').forEach(function (confirm) {
    var other = document.getElementById(confirm.getAttribute('data-same-as'));
    if (!other) return;
    var check = function () {
      confirm.setCustomValidity(confirm.value && confirm.value !== other.value ? 'The two new passwords differ.' : '');
    };
    confirm.addEventListener('input', check);
    other.addEventListener('input', check);
  });
});
