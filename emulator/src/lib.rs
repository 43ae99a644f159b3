//! A faithful local AWS Lambda: the Invoke API, the Runtime API and the Extensions API, running
//! real function bundles and layers as local processes.
