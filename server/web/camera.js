// Optional webcam capture for enrollment: start/stop the camera, capture JPEG frames, list them with remove buttons.
import { $, h, announce } from './ui.js';

/** Wires the camera controls; returns captures() (the captured photos as Files) and clear(). */
export function setupCamera() {
  const video = $('camera-video');
  const start = $('camera-start');
  const capture = $('camera-capture');
  const stop = $('camera-stop');
  const list = $('captures');
  const note = $('camera-note');
  const shots = []; // { file, url }
  let stream = null;

  if (!navigator.mediaDevices?.getUserMedia) {
    note.textContent = 'No camera access here: browsers allow it only on https or localhost pages. Choose photo files instead.';
    note.hidden = false;
    start.disabled = true;
  }

  const setRunning = (on) => {
    start.disabled = on;
    capture.disabled = !on;
    stop.disabled = !on;
    video.hidden = !on;
  };

  start.addEventListener('click', async () => {
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: false });
      video.srcObject = stream;
      await video.play();
      setRunning(true);
      capture.focus();
      announce('Camera on. Press Capture to take a photo.');
    } catch (e) {
      announce(`The camera could not be started: ${e.message}`);
    }
  });

  const stopCamera = () => {
    stream?.getTracks().forEach((t) => t.stop());
    stream = null;
    video.srcObject = null;
    setRunning(false);
  };
  stop.addEventListener('click', () => { stopCamera(); start.focus(); announce('Camera off.'); });

  capture.addEventListener('click', () => {
    const canvas = document.createElement('canvas');
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    if (!canvas.width) return announce('The camera has no picture yet; try again.');
    canvas.getContext('2d').drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      if (!blob) return announce('The capture failed.');
      const file = new File([blob], `capture-${shots.length + 1}.jpg`, { type: 'image/jpeg' });
      shots.push({ file, url: URL.createObjectURL(blob) });
      render();
      announce(`Captured photo ${shots.length}.`);
    }, 'image/jpeg', 0.92);
  });

  function render() {
    list.replaceChildren(...shots.map((s, i) => {
      const remove = h('button', { type: 'button', 'aria-label': `Remove captured photo ${i + 1}` }, 'Remove');
      remove.addEventListener('click', () => {
        URL.revokeObjectURL(s.url);
        shots.splice(i, 1);
        render();
        announce(`Removed captured photo ${i + 1}.`);
      });
      return h('li', {}, h('img', { src: s.url, alt: `Captured photo ${i + 1}`, width: 96 }), remove);
    }));
  }

  return {
    captures: () => shots.map((s) => s.file),
    clear() {
      shots.forEach((s) => URL.revokeObjectURL(s.url));
      shots.length = 0;
      render();
      stopCamera();
    },
  };
}
