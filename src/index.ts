// Public entry of segment-recorder: the Recorder client, the Timebase and the producer.
export {};
