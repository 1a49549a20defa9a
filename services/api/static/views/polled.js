// A view that keeps itself fresh while it is shown: showing it refreshes and starts polling,
// hiding it stops the timer, resetting (log out) stops it and rebuilds the view.

export class PolledView {
  show() {
    this.active = true;
    this.refresh();
  }

  hide() {
    this.active = false;
    clearTimeout(this.timer);
    this.timer = null;
  }

  reset() {
    this.hide();
    this.build();
  }

  /** Refresh again in `ms`, while the view is shown and the tab is visible. */
  pollIn(ms) {
    if (this.active && !document.hidden) this.timer = setTimeout(() => this.refresh(), ms);
  }
}
