//! The supported instruments, one entry per way a rig file can name one
//! (`lockrig rig drivers`): what it covers, the protocol and transports its driver
//! speaks, and the simulator's emulator of it. A new driver adds its entry here; a
//! test holds the catalogue to the driver registry.

use serde::Serialize;

/// One supported instrument family on one kind of link.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Entry {
    /// The rig file's `driver = "..."`.
    pub driver: &'static str,
    /// What it does on a bench.
    pub capability: &'static str,
    /// The instruments it covers.
    pub instruments: &'static str,
    /// The protocol its driver speaks.
    pub protocol: &'static str,
    /// How it is reached, as a rig file says it.
    pub transport: &'static str,
    /// The simulator's emulator (`sim = "..."`), if it has one: the driver is tested
    /// against it, and `lockrig sim serve` exposes it to other programs.
    pub sim: Option<&'static str>,
}

/// Every supported instrument.
pub const CATALOGUE: &[Entry] = &[
    Entry {
        driver: "rigol-dp800",
        capability: "supply",
        instruments: "Rigol DP800 (DP832, DP831A, DP821A)",
        protocol: "SCPI, error queue after every setting, OVP/OCP; its readback changes 2-3 times a second (as a meter: `every = \"500ms\"`)",
        transport: "serial/USB (serial = PATH), raw TCP 5555 (tcp = HOST:5555)",
        sim: Some("psu"),
    },
    Entry {
        driver: "siglent-spd3303x",
        capability: "supply",
        instruments: "Siglent SPD3303X, SPD3303X-E (CH1, CH2)",
        protocol: "SCPI without an error queue: every setting read back",
        transport: "serial/USB, raw TCP 5025",
        sim: Some("spd3303x"),
    },
    Entry {
        driver: "siglent-spd1000x",
        capability: "supply",
        instruments: "Siglent SPD1168X, SPD1305X (one channel, CH1)",
        protocol: "SCPI without an error queue: every setting read back",
        transport: "serial/USB, raw TCP 5025",
        sim: Some("spd1168x"),
    },
    Entry {
        driver: "keysight-e36300",
        capability: "supply",
        instruments: "Keysight E36311A, E36312A, E36313A",
        protocol: "SCPI, error queue after every setting, OVP/OCP",
        transport: "serial/USB, raw TCP 5025",
        sim: Some("e36312a"),
    },
    Entry {
        driver: "keysight-e3631a",
        capability: "supply",
        instruments: "Keysight (Agilent, HP) E3631A (P6V, P25V, N25V; one output switch for all)",
        protocol: "SCPI, error queue after every setting, no OVP/OCP; one supply role per instrument",
        transport: "RS-232 up to 9600, 8N2 with DTR/DSR handshaking",
        sim: Some("e3631a"),
    },
    Entry {
        driver: "korad-ka3005p",
        capability: "supply",
        instruments: "Korad KA3005P family (Tenma 72-2540, RND 320-KA3005P, Velleman PS3005D)",
        protocol: "unterminated ASCII, fixed-width replies, STATUS? byte, 80 ms between commands",
        transport: "serial/USB 9600",
        sim: Some("ka3005p"),
    },
    Entry {
        driver: "riden-rd60xx",
        capability: "supply",
        instruments: "Riden RD6006, RD6006P, RD6012, RD6018 (scaling from the model id)",
        protocol: "Modbus RTU holding registers (03/06), every setting read back, OVP/OCP at registers 82/83",
        transport: "serial/USB 115200, slave 1 unless `slave = N`",
        sim: Some("rd6006"),
    },
    Entry {
        driver: "lcus",
        capability: "switch",
        instruments: "LCUS-1/2/4/8 relay boards (CH340)",
        protocol: "A0 ch op sum frames, FF status",
        transport: "serial 9600",
        sim: Some("relays"),
    },
    Entry {
        driver: "keysight-daq970a",
        capability: "switch",
        instruments: "Keysight DAQ970A, 34970A, 34972A with a relay module (DAQM901A, DAQM903A)",
        protocol: "SCPI ROUTe:CLOSe/OPEN (@SNN), read back with ROUTe:CLOSe?, error queue after every setting",
        transport: "raw TCP 5025 (tcp = HOST:5025), RS-232 on a 34970A",
        sim: Some("daq970a"),
    },
    Entry {
        driver: "modbus-relay",
        capability: "switch",
        instruments: "Modbus RTU relay boards (Waveshare, Eletechsup and the like), 1-32 relays",
        protocol: "Modbus RTU coils: 05 to switch, 01 to read back; `first_coil`, `slave`",
        transport: "RS-485 or USB serial, usually 9600",
        sim: Some("modbus-relays"),
    },
    Entry {
        driver: "numato-gpio",
        capability: "input",
        instruments: "Numato USB GPIO (8/16/32 channels)",
        protocol: "ASCII gpio read/readall",
        transport: "serial 19200",
        sim: Some("gpio"),
    },
    Entry {
        driver: "gpio-input",
        capability: "input",
        instruments: "Linux GPIO character device input lines (Raspberry Pi header, FT232H, MCP2221, any kernel GPIO chip)",
        protocol: "GPIO uAPI v2 (gpiocdev): both edges detected, kernel-timestamped on CLOCK_MONOTONIC, lost events counted",
        transport: "gpiochip = /dev/gpiochipN; channel = line offset",
        sim: Some("gpiochip"),
    },
    Entry {
        driver: "gpio-output",
        capability: "switch",
        instruments: "Linux GPIO character device output lines driving relays or a MOSFET",
        protocol: "GPIO uAPI v2 (gpiocdev): requested driven low, every write read back",
        transport: "gpiochip = /dev/gpiochipN; channel = line offset",
        sim: Some("gpiochip"),
    },
    Entry {
        driver: "ina219",
        capability: "meter",
        instruments: "TI INA219 on a Linux I2C bus",
        protocol: "INA219 registers (ina219 crate), calibrated from shunt and max current",
        transport: "i2c = /dev/i2c-N (linux-embedded-hal)",
        sim: None,
    },
    Entry {
        driver: "ina219",
        capability: "meter",
        instruments: "TI INA219 behind an Excamera I2CDriver / I2CMini",
        protocol: "INA219 registers over the I2CDriver's byte protocol",
        transport: "i2cdriver = PORT (serial 1,000,000 baud)",
        sim: Some("i2cdriver"),
    },
    Entry {
        driver: "probe-rs",
        capability: "probe",
        instruments: "debug probes on the board's SWD/JTAG port: ST-Link, J-Link, CMSIS-DAP v2, FTDI, ESP-JTAG (probe-rs)",
        protocol: "probe-rs: attach to `chip`; flash ELF/HEX/BIN with verify (`lockrig flash`); reset, halt, register reads and RTT channel 0 by hand (`lockrig ctl probe ...`)",
        transport: "USB; probe = VID:PID[:SERIAL] (the first found when absent)",
        sim: None,
    },
    Entry {
        driver: "lock-console",
        capability: "console",
        instruments: "the lock board's debug console",
        protocol: "lockrig's line protocol (state, uptime, credentials, update, events)",
        transport: "serial 115200",
        sim: Some("console"),
    },
    Entry {
        driver: "lock-console",
        capability: "console",
        instruments: "a lock board whose firmware has its own console strings (`dialect = NAME or PATH`)",
        protocol: "a console dialect: command templates, reply and event patterns with uptime captures (fixtures/dialects/acme-sl200.toml: a Zephyr shell and log)",
        transport: "serial 115200",
        sim: Some("console-acme"),
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::rig::DriverKind;

    #[test]
    fn every_driver_is_catalogued_and_every_entry_is_a_driver() {
        for entry in CATALOGUE {
            let kind: DriverKind = entry.driver.parse().unwrap();
            assert_eq!(
                format!("{:?}", kind.capability()).to_lowercase(),
                entry.capability,
                "{}",
                entry.driver
            );
        }
        let names = crate::drivers::scpi_supply::DIALECTS
            .iter()
            .map(|d| d.key)
            .chain(crate::config::rig::driver_names());
        for name in names {
            assert!(
                CATALOGUE.iter().any(|e| e.driver == name),
                "driver `{name}` is not in the catalogue"
            );
        }
    }
}
