package main

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"time"
)

const (
	evKey    = 0x01
	keyPower = 116
)

// watchPowerButton signals once the ACPI power button (QEMU's system_powerdown) is pressed: the button driver
// reports it as KEY_POWER on an input device. New devices are looked for until one says so.
func watchPowerButton(pressed chan<- struct{}) {
	watched := map[string]bool{}
	for {
		devices, _ := filepath.Glob("/dev/input/event*")
		for _, device := range devices {
			if !watched[device] {
				watched[device] = true
				go readEvents(device, pressed)
			}
		}
		time.Sleep(time.Second)
	}
}

func readEvents(device string, pressed chan<- struct{}) {
	f, err := os.Open(device)
	if err != nil {
		return
	}
	defer f.Close()
	event := make([]byte, 24) // struct input_event on 64-bit: timeval (16), type, code (u16), value (s32)
	for {
		if _, err := f.Read(event); err != nil {
			return
		}
		kind, code := binary.LittleEndian.Uint16(event[16:18]), binary.LittleEndian.Uint16(event[18:20])
		value := int32(binary.LittleEndian.Uint32(event[20:24]))
		if kind == evKey && code == keyPower && value == 1 {
			select {
			case pressed <- struct{}{}:
			default:
			}
			return
		}
	}
}
