"""Where frames and ground truth come from: OTB folders, frame folders, video files, synthetic video."""
